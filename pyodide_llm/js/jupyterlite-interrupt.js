// The notebook's Stop button for pyodide_llm in JupyterLite: a classic script in the
// JupyterLite app pages (recipes/jupyterlite.py adds it; `exposeAppInBrowser` must be
// true in jupyter-lite.json). JupyterLite's interrupt only cancels cells still queued on
// the page's side; a Pyodide kernel runs in a worker that never hears of it. This wraps
// the kernel client's interrupt(id) to also say so on the origin's BroadcastChannel
// "pyodide_llm-interrupt", naming the kernel and the notebook sessions connected to it;
// pyodide_llm in that kernel (pyodide_llm/_interrupt.py) stops its running generations.
"use strict";

(() => {
  const channel = new BroadcastChannel("pyodide_llm-interrupt");
  const hook = () => {
    const kernels = window.jupyterapp?.serviceManager?.kernels;
    const client = kernels?._kernelAPIClient;
    if (!client || typeof client.interrupt !== "function") return false;
    if (client.pyodideLLMInterrupt) return true;
    const interrupt = client.interrupt.bind(client);
    client.interrupt = (id, ...rest) => {
      const sessions = [...(kernels._kernelConnections ?? [])].filter((k) => k.id === id).map((k) => k.clientId);
      channel.postMessage({ type: "interrupt", kernel: id, sessions });
      return interrupt(id, ...rest);
    };
    client.pyodideLLMInterrupt = true;
    return true;
  };
  // The app object appears once JupyterLite has started; look for it until then.
  const timer = setInterval(() => {
    if (hook()) clearInterval(timer);
  }, 200);
})();
