// Boost.JSON's compiled part, header-only style: exactly one source of each linreg_serve binary
// includes src.hpp.
#include <boost/json/src.hpp>
