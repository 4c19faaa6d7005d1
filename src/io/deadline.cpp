#include "gatehouse/io/deadline.hpp"

namespace gatehouse::io {

deadline_watch::~deadline_watch() {
    if (list_) {
        list_->remove(*this);
    }
}

void deadline_list::add(deadline_watch& w) {
    if (w.list_) {
        return;
    }
    w.list_ = this;
    w.prev_ = nullptr;
    w.next_ = head_;
    if (head_) {
        head_->prev_ = &w;
    }
    head_ = &w;
    ++size_;
}

void deadline_list::remove(deadline_watch& w) {
    if (w.list_ != this) {
        return;
    }
    if (w.prev_) {
        w.prev_->next_ = w.next_;
    } else {
        head_ = w.next_;
    }
    if (w.next_) {
        w.next_->prev_ = w.prev_;
    }
    w.prev_ = w.next_ = nullptr;
    w.list_ = nullptr;
    --size_;
}

void deadline_list::sweep(clock::time_point now) {
    for (auto* w = head_; w; w = w->next_) {
        if (w->deadline_ <= now && w->target_) {
            w->deadline_ = clock::time_point::max();
            w->expired_ = true;
            boost::system::error_code ignored;
            w->target_->cancel(ignored);
        }
    }
}

void deadline_list::expire_idle() {
    for (auto* w = head_; w; w = w->next_) {
        if (w->idle_ && w->target_ && w->deadline_ != clock::time_point::max()) {
            w->deadline_ = clock::time_point::max();
            w->expired_ = true;
            boost::system::error_code ignored;
            w->target_->cancel(ignored);
        }
    }
}

}  // namespace gatehouse::io
