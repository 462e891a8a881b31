def main_handler(event, context):
    return event
