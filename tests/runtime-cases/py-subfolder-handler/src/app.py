def handler(event, context):
    return {'from': 'src/app.py', 'got': event.get('k')}
