const greeter = require('greeter');
const helper = require('./lib/helper');
exports.main_handler = async (event) => {
  const np = (process.env.NODE_PATH || '').split(':');
  return { greeting: greeter.greet(event.who), helper: helper.twice(4), node_path_has_user: np.includes('/var/user') };
};
