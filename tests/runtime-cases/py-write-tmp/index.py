import os


def main_handler(event, context):
    path = "/tmp/scf-case-%s.txt" % context["request_id"]
    with open(path, "w") as f:
        f.write(event["text"] * 1000)
    with open(path) as f:
        data = f.read()
    os.remove(path)
    os.makedirs("/tmp/sub/dir", exist_ok=True)
    return {"len": len(data), "head": data[:8]}
