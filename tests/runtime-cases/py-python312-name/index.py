import os, sys

def main_handler(event, context):
    return [sys.version_info[0], os.environ.get('SCF_RUNTIME')]
