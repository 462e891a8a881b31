def main_handler(event, context):
    # Python's json writes NaN and Infinity, which are not JSON: they still come back as
    # Python's own json.dumps wrote them.
    return {"nan": float("nan"), "inf": float("inf"), "words": "NaN and Infinity"}
