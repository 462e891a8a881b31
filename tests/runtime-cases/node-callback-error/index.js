exports.main_handler = (event, context, callback) => {
  callback(new Error('cb-failure-marker'));
};
