import os


def main_handler(event, context):
    keys = ["SCF_FUNCTIONNAME", "SCF_FUNCTIONVERSION", "SCF_NAMESPACE", "SCF_RUNTIME", "TENCENTCLOUD_REGION",
            "TENCENTCLOUD_APPID", "TENCENTCLOUD_UIN", "TENCENTCLOUD_TZ", "_HANDLER"]
    out = {k: os.environ.get(k) for k in keys}
    out["USER_CODE_ROOT"] = (os.environ.get("USER_CODE_ROOT") or "").rstrip("/")
    out["PYTHONPATH_has_user"] = "/var/user" in (os.environ.get("PYTHONPATH") or "").split(":")
    return out
