exports.main_handler = async () => process.env.SCF_RUNTIME;
