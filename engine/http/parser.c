/* parser.c - (being written) */
#include "../reelimpl.h"
