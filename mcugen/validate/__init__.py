"""`mcugen validate`: run a model on a board over a serial link with exactly-once delivery.

protocol.py has the wire format, host.py the host session and transports, proxy.py a fault-injecting
TCP proxy for tests, board.py the firmware build and a pure-Python model of the board's state machine.
"""
