def helper():
    raise Exception('boom')


def main_handler(event, context):
    print('before-boom')
    helper()
