import os


def main_handler(event, context):
    return {k: os.environ.get(k) for k in ["GREETING", "WITH_SPACES", "EQUALS", "NOT_SET_VAR"]}
