def main_handler(event, context):
    return {'s': {1, 2}}
