"""A plugin that calls sys.exit (or raises any BaseException but KeyboardInterrupt) at import, in a
hook or in its model module is reported as a broken plugin; every other command keeps working."""
from __future__ import annotations

import pytest

from nptrain.cli.main import main
from nptrain.plugin_manager import default_plugins, load_plugins

GOOD = """
import attrs
from nptrain import hookimpl
from nptrain.records import BackboneRecord

@attrs.define
class P:
    width: int = 8

@hookimpl
def nptrain_backbones():
    return [BackboneRecord(name="{name}", factory="{factory}", params=P, description="test backbone")]
"""


@pytest.fixture
def fresh_plugins():
    """The CLI's process-wide plugin set, reloaded so the test's fake distributions are seen."""
    default_plugins.cache_clear()
    yield
    default_plugins.cache_clear()


class Custom(BaseException):
    pass


def test_sys_exit_at_import_is_a_reported_broken_plugin(fake_dist, fresh_plugins, capsys):
    fake_dist("np-plugin-exits", "np_exits_mod", "import sys\nsys.exit(3)\n")
    fake_dist("np-plugin-base", "np_base_mod", "class Boom(BaseException):\n    pass\nraise Boom('no')\n")
    fake_dist("np-plugin-fine", "np_fine_mod", GOOD.format(name="finenet", factory="nptrain.components.simple_cnn:build"))
    plugins = load_plugins()
    errors = "\n".join(plugins.errors)
    assert "np-plugin-exits (np_exits_mod): failed to load np_exits_mod: SystemExit: it called sys.exit(3)" in errors
    assert "np-plugin-base (np_base_mod): failed to load np_base_mod: Boom: no" in errors
    assert plugins.registry.get("backbone", "finenet").dist == "np-plugin-fine"
    # the CLI lists the broken ones with their errors and still runs other commands
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "np-plugin-exits 0.0.1  [np_exits_mod: np_exits_mod]  ERROR" in out
    assert "error: failed to load np_exits_mod: SystemExit: it called sys.exit(3)" in out
    assert main(["list", "backbones"]) == 0
    assert "finenet" in capsys.readouterr().out


def test_sys_exit_inside_a_hook_is_reported(fake_dist):
    fake_dist("np-plugin-hookexit", "np_hookexit_mod", """
import sys
from nptrain import hookimpl

@hookimpl
def nptrain_backbones():
    sys.exit("bye")
""")
    plugins = load_plugins()
    assert any("nptrain_backbones: SystemExit: it called sys.exit('bye')" in e for e in plugins.errors)


def test_model_module_that_exits_is_a_one_line_error(fake_dist, fresh_plugins, write, capsys):
    """Entry modules stay light, so model code is imported when a model is built: exit 2, one line."""
    fake_dist("np-plugin-lazyexit", "np_lazyexit_mod", GOOD.format(name="lazynet", factory="np_lazyexit_model:build"))
    # a second module beside it (its own dist-info is harmless: it provides no hooks)
    fake_dist("np-plugin-lazymodel", "np_lazyexit_model", "import sys\nsys.exit(0)\n")
    config = write("lazy.yaml", """
        model:
          task: classification
          architecture:
            backbone: {name: lazynet}
            head: {name: fc}
        """)
    code = main(["benchmark", str(config), "--input-size", "8", "--repeats", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip() == ("nptrain: error: cannot import np_lazyexit_model (the factory np_lazyexit_model:build): "
                           "SystemExit: it called sys.exit(0); fix or uninstall the plugin that provides it "
                           "(see nptrain plugins)")


def test_keyboard_interrupt_still_interrupts(fake_dist):
    fake_dist("np-plugin-ctrlc", "np_ctrlc_mod", "raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        load_plugins()
