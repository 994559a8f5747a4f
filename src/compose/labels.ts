// The labels `docker stack deploy` puts on what a stack creates; Docker's
// `docker stack ls/ps/rm` find a stack's services and networks by the first.
export const STACK_NAMESPACE_LABEL = "com.docker.stack.namespace";
export const STACK_IMAGE_LABEL = "com.docker.stack.image";
