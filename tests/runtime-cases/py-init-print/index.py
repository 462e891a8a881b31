print('py-init-marker')

def main_handler(event, context):
    return 'ok'
