def main_handler(event, context):
    pass
