import subprocess


def main():
    pass


if __name__ == '__main__':
    subprocess.run(['true'])
