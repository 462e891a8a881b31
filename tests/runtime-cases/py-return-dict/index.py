def main_handler(event, context):
    return {'a': 1, 'b': [1, 2, None], 'c': {'d': 'é'}}
