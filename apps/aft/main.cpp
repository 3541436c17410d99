#include <iostream>
#include "aft/core/version.h"
int main() { std::cout << aft::version_report() << std::endl; }
