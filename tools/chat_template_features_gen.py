#!/usr/bin/python3
"""Regenerates tests/data/chat/features.json: small templates for each Jinja feature with the output
Python's Jinja2 (set up as transformers sets it up) gives, so that test_chat checks them without
Python. Run with Debian's /usr/bin/python3 (it has jinja2)."""
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
M = [{"role": "system", "content": "Sys"}, {"role": "user", "content": " Hi there "}, {"role": "assistant", "content": "Yo"}]
PEOPLE = [{'name': 'a', 'city': 'Paris', 'age': 3}, {'name': 'b', 'city': 'Rome', 'age': 1}, {'name': 'c', 'city': 'paris', 'age': 3}, {'name': 'd', 'age': 2}]
TREE = [{'name': 'root', 'children': [{'name': 'kid1', 'children': [{'name': 'leaf'}]}, {'name': 'kid2'}]}, {'name': 'solo'}]
cases = [
 ("if_elif_else", "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %},{% endfor %}", {}),
 ("for_else_empty", "{% for x in [] %}{{ x }}{% else %}empty{% endfor %}", {}),
 ("loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}", {}),
 ("loop_prev_next_cycle", "{% for x in [1,2,3] %}{{ loop.previtem is defined and loop.previtem }}-{{ loop.nextitem | default('end') }}-{{ loop.cycle('odd', 'even') }};{% endfor %}", {}),
 ("loop_filter_header", "{% for m in messages if m.role != 'system' %}{{ loop.index }}/{{ loop.length }}:{{ m.role }} {% endfor %}", {}),
 ("loop_break_continue", "{% for x in range(10) %}{% if x is odd %}{% continue %}{% endif %}{% if x > 6 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
 ("loop_scope", "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}", {}),
 ("namespace", "{% set ns = namespace(count=0, names=[]) %}{% for m in messages %}{% set ns.count = ns.count + 1 %}{% set ns.names = ns.names + [m.role] %}{% endfor %}{{ ns.count }} {{ ns.names | join(',') }}", {}),
 ("block_set", "{% set greeting | upper %}hello {{ name }}{% endset %}[{{ greeting }}]{% set raw_block %}a\n  b{% endset %}{{ raw_block | length }}", {"name": "bob"}),
 ("macro_defaults_caller", "{% macro tag(name, value='x', sep=': ') %}<{{ name }}{{ sep }}{{ value }}>{% endmacro %}{{ tag('a') }}{{ tag('b', 2) }}{{ tag('c', sep='=') }}{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inside{% endcall %}", {}),
 ("call_with_args", "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(item) each([1, 2]) %}<{{ item * 10 }}>{% endcall %}", {}),
 ("filter_block", "{% filter upper %}shout {{ 'this' }}{% endfilter %}", {}),
 ("raw", "{% raw %}{{ not rendered }}{% endraw %}", {}),
 ("whitespace_control", "a  {%- if true -%}  b  {%- endif -%}  c\n  {{- 'd' -}}  \ne", {}),
 ("trim_lstrip_blocks", "<ul>\n    {% for x in [1, 2] %}\n    <li>{{ x }}</li>\n    {% endfor %}\n</ul>\n", {}),
 ("lstrip_plus_keeps", "x\n    {%+ if true %}kept{% endif %}\n", {}),
 ("comments", "a{# comment #}b\n  {# own line #}\nc", {}),
 ("literals", "{{ [1, 'two', 3.5, none, true, (1, 2), {'k': 'v'}] }} {{ (1,) }} {{ 0x1F }} {{ 1_000 }} {{ 1e3 }} {{ 'a' 'b' }}", {}),
 ("arith", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1 + 2 * 3 - 4 }} {{ 'ab' * 3 }} {{ 1.5 + 1 }} {{ 0.1 + 0.2 }} {{ 10 / 4 }} {{ 1e20 * 10 }}", {}),
 ("concat_tilde", "{{ 'a' ~ 1 ~ none ~ true ~ undefined_var ~ [1] }}", {}),
 ("comparisons", "{{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ 'ell' in 'hello' }} {{ 2 not in [1, 3] }} {{ 'k' in {'k': 1} }} {{ [1, 2] == [1, 2] }} {{ 'b' >= 'a' }}", {}),
 ("logic_values", "{{ none or 'fallback' }} {{ 'x' and 'y' }} {{ not [] }} {{ 0 or '' or 'last' }}", {}),
 ("conditional_expr", "{{ 'yes' if 1 > 0 else 'no' }} [{{ 'a' if false }}] {{ 'p' if none is none else 'q' }}", {}),
 ("slicing_indexing", "{{ messages[-1].content }} {{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ [1,2,3,4,5][1::2] }} {{ messages[1:] | length }} {{ 'héllo'[1] }} {{ [1,2,3][-2:] }}", {}),
 ("attr_item_access", "{{ messages[0]['role'] }} {{ messages.0.content }} {{ d.items is callable }} {{ d['items'] }} {{ d.missing is undefined }} {{ (none).x is undefined }}", {"d": {"items": "key wins for []", "a": 1}}),
 ("string_methods", "{{ m.strip() }}|{{ m.lstrip() }}|{{ m.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a.b.c'.rsplit('.', 1) }}|{{ m.startswith(' Hi') }}|{{ 'x.py'.endswith(('.js', '.py')) }}|{{ 'MiXed'.upper() }}{{ 'MiXed'.lower() }}|{{ 'hello world'.title() }}|{{ 'hELLO'.capitalize() }}|{{ 'aaa'.replace('a', 'b', 2) }}|{{ '{} and {name}'.format(1, name='n') }}|{{ 'xxhixx'.strip('x') }}|{{ 'abc'.find('c') }}|{{ '-'.join(['a', 'b']) }}", {"m": " Hi there "}),
 ("dict_methods", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d.keys() | list }}{{ d.values() | list }}{{ d.get('a') }}{{ d.get('zz', 'dflt') }}{{ d.get('zz') }}", {"d": {"b": 2, "a": 1}}),
 ("tojson", "{{ d | tojson }}\n{{ d | tojson(indent=2) }}\n{{ d | tojson(sort_keys=true) }}\n{{ d | tojson(separators=(',', ':')) }}\n{{ 'é\"<>&\\n' | tojson }}\n{{ [1.0, 2.5, 1e100, -0.0, true, none] | tojson }}\n{{ {} | tojson(indent=4) }}{{ [] | tojson }}", {"d": {"z": [1, {"y": None}], "a": "ü", "n": 3}}),
 ("filters_text", "{{ '  pad  ' | trim }}|{{ 'abc' | length }}|{{ [1,2] | count }}|{{ 'hello world' | title }}|{{ 'hELLO' | capitalize }}|{{ 'Up' | upper }}{{ 'Up' | lower }}|{{ 'aXbX' | replace('X', '-') }}|{{ 'one two  three' | wordcount }}|{{ '<a href=\"x\">' | e }}|{{ 'x' | safe }}|{{ 42 | string }}|{{ 'ab' | reverse }}|{{ 'ab' | list }}", {}),
 ("indent", "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, first=true) }}|{{ 'a\\n\\nb' | indent('> ', blank=true) }}", {}),
 ("filters_numbers", "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int(7) }} {{ '3.25' | float }} {{ 'y' | float }} {{ -3 | abs }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 3 | round }} {{ 2.1 | round(0, 'ceil') }} {{ [1, 2, 3] | sum }} {{ [3, 1, 2] | min }} {{ [3, 1, 2] | max }}", {}),
 ("filters_lists", "{{ [3, 1, 2] | first }} {{ [3, 1, 2] | last }} {{ [3, 1, 2] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ ['b', 'A', 'a'] | unique | list }} {{ [1, 2, 3] | reverse | list }} {{ [1, 2, 3, 4, 5] | batch(2, 0) | list }} {{ ['x', 'y'] | join(', ') }} {{ d | dictsort }} {{ d | items | list }}", {"d": {"b": 1, "a": 2}}),
 ("filters_select_map", "{{ messages | map(attribute='role') | join(',') }} {{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | rejectattr('role', 'eq', 'user') | map(attribute='content') | list }} {{ [1, 2, 3, 4] | select('even') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} {{ ['a', 'b'] | map('upper') | list }} {{ messages | map(attribute='missing', default='?') | list }} {{ messages | selectattr('content') | list | length }}", {}),
 ("default_filter", "{{ missing | default('d') }} {{ none | default('d') }} {{ '' | default('d', true) }} {{ missing | d('short') }}", {}),
 ("tests", "{{ x is defined }} {{ y is undefined }} {{ none is none }} {{ 's' is string }} {{ 1 is number }} {{ 1 is integer }} {{ 1.0 is float }} {{ {} is mapping }} {{ [] is iterable }} {{ 'x' is sequence }} {{ true is boolean }} {{ true is true }} {{ false is false }} {{ 2 is even }} {{ 3 is odd }} {{ 3 is equalto 3 }} {{ 3 is eq 3 }} {{ 3 is ne 4 }} {{ 'a' is in 'abc' }} {{ none is sameas none }} {{ 1 is not string }} {{ 6 is divisibleby 3 }}", {"x": 1}),
 ("globals", "{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ dict(a=1, b='x') }} {% set ns = namespace(v=1) %}{{ ns.v }}", {}),
 ("python_str_of_values", "{{ d }} {{ l }} {{ t }} {{ none }} {{ true }} {{ 1.0 }} {{ 'it''s' }}", {"d": {"a": "it's", "b": [1, None, True]}, "l": ["x", 'y"z'], "t": 3.14}),
 ("unicode_strings", "{{ s | length }} {{ s | upper }} {{ s[0] }} {{ s | reverse }} {{ s.split('é') }}", {"s": "héllo wörld ✓"}),
 ("with_statement", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a is defined }}", {}),
 ("strftime_now_shape", "{{ strftime_now('%Y') | length }}", {}),
 ("raise_exception", "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}", {}),
 ("undefined_attr_error", "{{ missing.attr }}", {}),
 ("sandbox_append_refused", "{% set l = [1] %}{{ l.append(2) }}", {}),
 ("sandbox_underscore", "{{ 'x'.__class__ is defined }}", {}),
 ("string_format_percent", "{{ '%s-%d-%05.1f' % ('a', 3, 2.25) }} {{ '%(x)s' % {'x': 1} }} {{ '%s!' | format('hi') }}", {}),
 ("generation_tag", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}|{% endfor %}", {}),
 ("nested_structures", "{% set data = {'list': [{'k': [1, 2]}, {'k': [3]}]} %}{% for item in data.list %}{% for v in item.k %}{{ v }}{% endfor %}{% endfor %} {{ data['list'][1]['k'][0] }}", {}),
 ("generator_truthy", "{{ 'yes' if ([] | select) else 'no' }}", {}),
 ("markup_plus_escapes", "{{ '<b>' | safe + '<i>' }} {{ 'a' + 'b' }}", {}),
 ("recursive_loop", "{% for item in tree recursive %}{{ item.name }}({{ loop.depth }}{{ loop.depth0 }}{{ loop.index }}/{{ loop.length }}){% if item.children %}[{{ loop(item.children) }}]{% endif %};{% endfor %}", {"tree": TREE}),
 ("loop_changed", "{% for m in msgs %}{% if loop.changed(m.role) %}<{{ m.role }}>{% endif %}{{ m.t }}{% if loop.changed(m.role, m.t) %}*{% endif %}{% endfor %}", {"msgs": [{"role": "u", "t": 1}, {"role": "u", "t": 2}, {"role": "a", "t": 3}, {"role": "u", "t": 4}]}),
 ("loop_call_non_recursive", "{% for x in [1] %}{{ loop([2]) }}{% endfor %}", {}),
 ("filter_truncate", "{{ 'hello world foo bar' | truncate(9) }}|{{ 'hello world foo bar baz' | truncate(11, true) }}|{{ 'hello world' | truncate(5, leeway=0) }}|{{ 'abcdefghij' | truncate(7, end='!', leeway=0) }}|{{ 'short' | truncate(3) }}|{{ 'héllo wörld ✓ and more text here' | truncate(12, leeway=1) }}", {}),
 ("filter_wordwrap", "{{ s | wordwrap(10) }}|{{ s | wordwrap(12, wrapstring='<br>') }}|{{ 'a-very-long-hyphenated-word here' | wordwrap(8) }}|{{ 'abcdefghijklmnop qr' | wordwrap(5, false) }}|{{ 'abcdefghijklmnop qr' | wordwrap(5) }}|{{ 'well-known fact-checking' | wordwrap(7, break_on_hyphens=false) }}", {"s": "The quick brown fox jumps over the lazy dog\nsecond  line\n\nfourth"}),
 ("filter_groupby", "{% for g in people | groupby('city', default='?') %}{{ g.grouper }}:{{ g.list | map(attribute='name') | join(',') }};{% endfor %}|{% for city, items in people | groupby('city', default='?', case_sensitive=true) %}{{ city }}={{ items | length }};{% endfor %}|{{ people | groupby('age') | map(attribute='grouper') | list }}|{{ (people | groupby('age'))[0] }}", {"people": PEOPLE}),
 ("filter_slice", "{{ [1, 2, 3, 4, 5, 6, 7] | slice(3) | list }}|{{ [1, 2, 3, 4] | slice(3, 0) | list }}|{% for col in 'abcde' | slice(2) %}{{ col | join }};{% endfor %}", {}),
 ("filter_urlencode", "{{ 'a b/c?d=é&~' | urlencode }}|{{ {'q': 'x y', 'n': 1} | urlencode }}|{{ [('a', 'b&c'), ('k', '/')] | urlencode }}", {}),
 ("filter_xmlattr", "<li{{ {'class': 'my <list>', 'id': 'x', 'missing': none, 'n': 3} | xmlattr }}>|{{ {'a': 1} | xmlattr(false) }}|{{ {} | xmlattr }}", {}),
 ("filter_striptags", "{{ '<p>Hello <b>World</b>!</p>  <!-- a <comment> -->\n  &amp; more &lt;3 &#65;&#x42;&nbsp;end' | striptags }}", {}),
 ("filter_filesizeformat", "{{ 1 | filesizeformat }} {{ 300 | filesizeformat }} {{ 1000 | filesizeformat }} {{ 1500000 | filesizeformat }} {{ 2048 | filesizeformat(true) }} {{ '5000' | filesizeformat }} {{ 1e30 | filesizeformat }} {{ 1.5 | filesizeformat }}", {}),
 ("include_no_loader", "before{% include 'other.jinja' %}", {}),
 ("import_no_loader", "{% import 'macros.jinja' as m %}{{ m.x() }}", {}),
 ("loader_tags_not_run", "{% if false %}{% include 'x' ignore missing %}{% import 'm' as m %}{% from 'f' import a, b as c with context %}{% endif %}ok", {}),
]
with open('/tmp/chat_features_in.jsonl', 'w') as f:
    for name, tpl, kw in cases:
        f.write(json.dumps({"id": name, "template": tpl, "messages": M, "add_generation_prompt": False, "kwargs": kw}, ensure_ascii=False) + "\n")
out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, 'tools', 'chat_template_reference.py')], stdin=open('/tmp/chat_features_in.jsonl'), capture_output=True, text=True).stdout
res = [json.loads(l) for l in out.splitlines()]
final = []
for (name, tpl, kw), r in zip(cases, res):
    e = {"name": name, "template": tpl, "variables": kw}
    if r["ok"]: e["expected"] = r["text"]
    else: e["error"] = r["error"]; e["error_type"] = r["type"]
    final.append(e)
    print(name, "->", repr(r.get("text", r.get("type", "") + ": " + r.get("error", "")))[:150])
json.dump({"messages": M, "cases": final}, open(os.path.join(ROOT, 'tests/data/chat/features.json'), 'w'), ensure_ascii=False, indent=1)
