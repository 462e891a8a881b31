exports.main_handler = async (event, context) => {
  await new Promise(r => setTimeout(r, 50));
  return { ok: true, got: event.x };
};
