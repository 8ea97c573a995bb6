// Jinja2's built-in filters and tests, the Python methods of str, list and dict that templates call,
// and the globals transformers adds (raise_exception, strftime_now) beside Jinja's (range, dict,
// namespace, cycler, joiner).
#pragma once

#include <string>

#include "text/chat/jinja_interpreter.h"

namespace vllm::jinja {

using FilterFunction = Value (*)(Interpreter&, const Value&, const CallArgs&);
using TestFunction = bool (*)(Interpreter&, const Value&, const CallArgs&);

FilterFunction find_filter(const std::string& name);
// The less common filters (jinja_filters_extra.cpp): truncate, wordwrap, groupby, slice, urlencode,
// xmlattr, striptags, filesizeformat.
FilterFunction find_extra_filter(const std::string& name);
TestFunction find_test(const std::string& name);

// obj.name for a str, list or dict method: a bound callable, an "unsafe" undefined for the
// mutating methods the immutable sandbox refuses, or a plain undefined.
Value find_method(const Value& obj, const std::string& name);
// Whether `name` is a dict method (items, keys, values, get, copy, clear, pop, popitem, setdefault,
// update): those win over the dict's keys, as Jinja tries getattr before getitem.
bool is_dict_method(const std::string& name);

// Globals every template sees.
void add_globals(Object& globals);

// Shared helpers.
// Jinja's make_attrgetter: "a.b.0" walks items and attributes; integer parts index lists.
Value attribute_of(Interpreter& in, const Value& item, const Value& attribute, const Value* default_value = nullptr);
std::string python_str_format(Interpreter& in, const std::string& format, const CallArgs& args);
std::string python_percent_format(const std::string& format, const Value& args);
std::string to_lower(const std::string& s);
std::string to_upper(const std::string& s);

}  // namespace vllm::jinja
