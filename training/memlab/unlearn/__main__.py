"""python3 -m memlab.unlearn ...: see run_all.py."""
from .run_all import main

main()
