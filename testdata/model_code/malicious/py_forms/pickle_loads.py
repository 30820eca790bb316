import pickle
pickle.loads(b'N.')
