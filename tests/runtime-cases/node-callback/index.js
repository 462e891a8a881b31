exports.main_handler = (event, context, callback) => {
  setTimeout(() => callback(null, 'cb-value'), 20);
};
