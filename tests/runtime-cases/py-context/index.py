import json


def main_handler(event, context):
    keys = ["request_id", "function_name", "function_version", "namespace", "memory_limit_in_mb",
            "time_limit_in_ms", "tencentcloud_region", "tencentcloud_appid", "tencentcloud_uin"]
    out = {k: str(context[k]) for k in keys}
    out["context_is_dict"] = isinstance(context, dict)
    out["environment"] = json.loads(context["environment"])
    return out
