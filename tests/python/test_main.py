"""`python -m vllm_cpp serve ...` runs the vllm-cpp server (the package execs the bundled binary)."""
import json
import os
import re
import signal
import subprocess
import sys
import unittest
import urllib.request

from support import DEFAULT_MODEL, SOURCE_DIR, cli_binary, needs_module

# Where the server says it listens: "serve: <name> on http://127.0.0.1:<port>/v1 (...)".
LISTENING = re.compile(r"on http://127\.0\.0\.1:(\d+)/v1")


@needs_module
@unittest.skipIf(cli_binary() is None, "the vllm-cpp executable is not built")
class ServeTest(unittest.TestCase):
    def test_help_lists_the_engine_flags(self):
        result = subprocess.run([sys.executable, "-m", "vllm_cpp", "serve", "--help=all"], capture_output=True,
                                text=True, cwd=SOURCE_DIR)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("--max-model-len", result.stdout)

    @unittest.skipUnless(os.path.exists(os.path.join(DEFAULT_MODEL, "config.json")), "models/default is absent")
    def test_serve_answers_openai_requests(self):
        command = [sys.executable, "-m", "vllm_cpp", "serve", DEFAULT_MODEL, "--host", "127.0.0.1", "--port", "0",
                   "--served-model-name", "tiny"]
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            port = None
            for line in server.stdout:  # ends if the server exits before listening
                match = LISTENING.search(line)
                if match:
                    port = int(match.group(1))
                    break
            self.assertIsNotNone(port, "the server exited before listening")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=60) as response:
                models = json.load(response)
            self.assertEqual([model["id"] for model in models["data"]], ["tiny"])
            body = json.dumps({"model": "tiny", "prompt": "Once upon a time", "max_tokens": 4,
                               "temperature": 0}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                completion = json.load(response)
            self.assertEqual(completion["usage"]["completion_tokens"], 4)
        finally:
            server.send_signal(signal.SIGTERM)
            server.communicate(timeout=60)
        self.assertEqual(server.returncode, 0)


if __name__ == "__main__":
    unittest.main()
