"""Boards: the inventory, the kinds of board behind one protocol (board.py), and how each is reached, given
files, locked, probed and made to run a program."""
