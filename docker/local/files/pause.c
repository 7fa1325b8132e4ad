/*
 * The pod sandbox process: holds a pod's namespaces open, reaps the zombies of containers that
 * share its PID namespace, and exits on SIGINT/SIGTERM. Built static by docker/local/node-image.sh
 * and tagged as containerd's sandbox_image, since no registry (registry.k8s.io/pause) can be
 * reached on an air-gapped machine.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { _exit(128 + sig); }

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction on_stop = {.sa_handler = stop};
  struct sigaction on_child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  sigaction(SIGINT, &on_stop, NULL);
  sigaction(SIGTERM, &on_stop, NULL);
  sigaction(SIGCHLD, &on_child, NULL);
  for (;;) pause();
  return EXIT_FAILURE;
}
