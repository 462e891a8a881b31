import sys

def main_handler(event, context):
    return sys.version_info[0]
