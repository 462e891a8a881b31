exports.main_handler = async (event, context) => {
  const a = context.getRemainingTimeInMillis();
  await new Promise(r => setTimeout(r, 300));
  const b = context.getRemainingTimeInMillis();
  return { type: typeof a, in_range: a > 0 && a <= 5000, decreasing: b < a && a - b >= 250 };
};
