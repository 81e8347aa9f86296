import sys

from keras_hsmix.cli import main

sys.exit(main())
