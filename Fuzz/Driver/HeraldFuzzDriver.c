// Only the header matters: it declares libFuzzer's driver for Swift. SwiftPM needs a source file.
#include "HeraldFuzzDriver.h"
