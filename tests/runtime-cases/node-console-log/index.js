exports.main_handler = async (event) => {
  console.log('node-log-marker', event.n);
  console.error('node-err-marker');
  return 'logged';
};
