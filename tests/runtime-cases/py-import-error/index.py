import no_such_module_xyz


def main_handler(event, context):
    return 'never'
