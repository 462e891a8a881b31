import sys

def main_handler(event, context):
    print('py-stdout-marker', event['v'])
    print('py-stderr-marker', file=sys.stderr)
    return 'printed'
