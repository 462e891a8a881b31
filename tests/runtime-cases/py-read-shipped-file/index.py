import json
import os


def main_handler(event, context):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "data", "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(os.environ["USER_CODE_ROOT"], "data", "words.txt")) as f:
        words = f.read().split()
    return {"cfg": cfg, "words": words}
