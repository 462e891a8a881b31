function inner() { throw new Error('node-boom'); }
exports.main_handler = async (event, context) => {
  console.log('before-node-boom');
  inner();
};
