// The number grammar of every linreg_ext program (trainer, predictors, server), the C++ twin of
// linreg_ext/numbers.py; both are tested against the one table tests/data/number_grammar.json.
//
//   number   = blank* sign? mantissa exponent? blank*      blank = ' ' | '\t'
//   sign     = '+' | '-'
//   mantissa = digit+ ('.' digit*)? | '.' digit+           digit = '0'..'9' (ASCII only)
//   exponent = ('e' | 'E') sign? digit+
//
// The value is the text rounded to the nearest double (subnormals are kept, a value below the
// smallest subnormal becomes a signed zero); a text that rounds to infinity (1e309) is rejected.
// No hex (0x1p3), no nan/inf/infinity, no digit separators (1_000), no empty text.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace linreg_app {

// The message names the offending text (quoted by quote_text) and the reason.
struct NumberError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// The value of `text` under the grammar above, or NumberError.
double parse_number(std::string_view text);

// `text` in single quotes, safe to print: bytes outside printable ASCII are escaped (\t \r \n,
// else \xHH; non-ASCII UTF-8 too) and a text over 40 bytes is cut to its first 40 and "…".
std::string quote_text(std::string_view text);

}  // namespace linreg_app
