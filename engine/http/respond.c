/* respond.c - (being written) */
#include "../reelimpl.h"
