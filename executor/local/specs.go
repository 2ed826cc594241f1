package local

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// specsConfig is the server's Python config file (jupyter_server_config.py)
// giving it a kernel spec manager of its own, for two reasons.
//
// Confinement: a sandboxed server must start only the sandbox's kernel
// spec. jupyter-server otherwise searches every spec directory of the host
// (the system's, the user's IPython directory, ...), and a kernel started
// from one of those would run unconfined. With specDirs set, those are the
// only directories searched, and no spec outside them is ever used: not
// even ipykernel's built-in python3 spec, which jupyter_client falls back
// to.
//
// Speed: jupyter_client's manager imports IPython to find the IPython
// directory, and ipykernel to tell whether a "python3" spec is ipykernel's
// built-in one. That is a third of a second of imports in the server at the
// first kernel start, on the path of every cold run. Here the IPython
// directory comes from the environment, as IPython finds it ($IPYTHONDIR,
// else ~/.ipython), and ipykernel is imported only for a spec that is in
// its package.
func specsConfig(specDirs []string) string {
	only := "True"
	if len(specDirs) == 0 {
		only = "False"
	}
	if specDirs == nil {
		specDirs = []string{}
	}
	dirs, _ := json.Marshal(specDirs)
	return fmt.Sprintf(`# Written by agentteam for this server only.
import os

# The server was started with TRAITLETS_APPLICATION_RAISE_CONFIG_FILE_ERROR=1,
# so that it stops rather than run without this file or its JSON sibling
# (token, socket). traitlets has read it by now; kernels do not inherit it.
os.environ.pop("TRAITLETS_APPLICATION_RAISE_CONFIG_FILE_ERROR", None)

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.provisioning import KernelProvisionerFactory

_ONLY = %s
_DIRS = [os.path.realpath(d) for d in %s]


class AgentteamKernelSpecManager(KernelSpecManager):
    def _kernel_dirs_default(self):
        if _ONLY:
            return list(_DIRS)
        from jupyter_core.paths import jupyter_path

        ipython = os.environ.get("IPYTHONDIR") or os.path.join(os.path.expanduser("~"), ".ipython")
        return jupyter_path("kernels") + [os.path.join(ipython, "kernels")]

    def _find_spec_directory(self, kernel_name):
        if not _ONLY:
            return super()._find_spec_directory(kernel_name)
        if os.path.basename(kernel_name) != kernel_name or kernel_name.startswith("."):
            return None
        for d in _DIRS:
            p = os.path.join(d, kernel_name)
            if os.path.isfile(os.path.join(p, "kernel.json")):
                return p
        return None

    def _get_kernel_spec_by_name(self, kernel_name, resource_dir):
        if _ONLY and os.path.dirname(os.path.realpath(resource_dir)) not in _DIRS:
            raise NoSuchKernel(kernel_name)
        if not _ONLY and os.path.basename(os.path.dirname(os.path.realpath(resource_dir))) == "ipykernel":
            return super()._get_kernel_spec_by_name(kernel_name, resource_dir)
        kspec = self.kernel_spec_class.from_resource_dir(resource_dir)
        if not KernelProvisionerFactory.instance(parent=self.parent).is_provisioner_available(kspec):
            raise NoSuchKernel(kernel_name)
        return kspec


c.ServerApp.kernel_spec_manager_class = AgentteamKernelSpecManager
if _ONLY:
    c.KernelSpecManager.ensure_native_kernel = False
`, only, dirs)
}

// writeSpecsConfig writes specsConfig into the server's config directory.
func writeSpecsConfig(configDir string, specDirs []string) error {
	return os.WriteFile(filepath.Join(configDir, "jupyter_server_config.py"), []byte(specsConfig(specDirs)), 0o600)
}
