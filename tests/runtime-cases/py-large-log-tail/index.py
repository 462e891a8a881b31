def main_handler(event, context):
    for i in range(2000):
        print('line-%05d' % i)
    print('py-last-line-marker')
    return 'lots'
