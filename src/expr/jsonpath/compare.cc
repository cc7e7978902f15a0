#include "expr/jsonpath/jsonpath.h"
