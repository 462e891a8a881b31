exports.other = async () => 1;
