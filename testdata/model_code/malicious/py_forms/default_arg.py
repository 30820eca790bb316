def helper(run=__import__('os').system):
    return run

helper()('true')
