exports.main_handler = (event, context) => {
  return Promise.reject(new Error('rejected-marker'));
};
