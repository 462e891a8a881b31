exports.main_handler = async (event, context) => {
  const keys = ['request_id', 'function_name', 'function_version', 'namespace', 'memory_limit_in_mb',
                'time_limit_in_ms', 'tencentcloud_region', 'tencentcloud_appid', 'tencentcloud_uin'];
  const out = {};
  for (const k of keys) out[k] = String(context[k]);
  out.environment = JSON.parse(context.environment);
  out.env = {};
  for (const k of ['SCF_FUNCTIONNAME', 'SCF_RUNTIME', 'SCF_NAMESPACE', 'TENCENTCLOUD_TZ', 'NODE_VAR', '_HANDLER']) out.env[k] = process.env[k];
  return out;
};
