//! Pods from the kubelet on this node (to be written).
