import socket, urllib.request
socket.create_connection(('127.0.0.1', 9))
urllib.request.urlretrieve('http://127.0.0.1:9/x', 'x')
